"""KPIs.

Periods, targets and statuses, metric SQL, chart data and the weekly review.
"""
