"""KPIs: figures measured on the deal store against the playbook's targets.

Pure: ``periods`` (which days a report covers), ``targets`` (scaling and
status), ``report`` (results and reports). SQL: ``dialect`` (SQLite vs
PostgreSQL), ``units`` (the rows each metric reads), ``aggregate`` (figures per
group), ``metrics`` (each metric's plan and :func:`compute_kpis`), ``charts``
(funnel, cycle-time histogram, the HTML report's data) and ``review`` (the
weekly review and stuck deals).
"""
