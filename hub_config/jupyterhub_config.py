# JupyterHub configuration for xuefa. Deliberately thin (like TLJH's): all logic lives in
# hub_config.config; this file only applies it. `xuefa up` points jupyterhub at this file.
from hub_config.config import apply_config

apply_config(c)  # noqa: F821 - `c` is injected by JupyterHub
