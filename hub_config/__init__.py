"""xuefa hub side: JupyterHub configuration, authenticator, spawner, roles, hub-managed
services, zh-CN templates, dashboards and the ``xuefa`` admin CLI.

Kept import-light: ``python3 -m hub_config.installer`` runs before any dependency exists.
"""
