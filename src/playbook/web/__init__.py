"""``playbook serve``: the live enforcement point over HTTP (FastAPI on uvicorn).

:mod:`playbook.web.app` builds the ASGI application; the routes are thin
edges over :mod:`playbook.services`. Imported only by ``playbook serve``:
``import playbook`` and ``playbook validate`` never load the web framework.
"""
