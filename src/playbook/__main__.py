"""``python -m playbook``: the same as the ``playbook`` command."""

from playbook.cli import run

if __name__ == "__main__":
    run()
