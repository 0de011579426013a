"""xuefa grading: nbgrader glue, the on-submit grading service, learning records
(SQLAlchemy models + migrations), completion rules, report queries and exports.

Imports nothing from ``hub_config`` or ``widgets``.
"""
