"""Start a person's server or kernel without optional imports it never uses.

``python -m hub_config.home.lean MODULE ARGS...`` runs ``python -m MODULE ARGS...`` after marking
a few optional packages as absent. The spawner starts learners' servers this way
(``jupyterhub.singleuser``) and the platform's ``python3`` kernelspec
(``hub_config/share/kernels/python3``) starts every kernel of people's servers this way
(``ipykernel_launcher``).

Why: every Jupyter process imports ``jsonschema`` (through ``nbformat`` and ``jupyter_events``),
and ``jsonschema`` loads each optional format checker that is installed. ``rfc3987_syntax``
(an extra of ``jsonschema[format-nongpl]``, which ``jupyter_events`` asks for) builds a
``lark`` grammar at import: about 17 MB in each process, to check the ``iri`` format of
schemas no learner page uses. ``jsonschema`` imports it inside ``suppress(ImportError)``, so
an absent module only means that format is not checked.

Kernels started by a learner's server (``XUEFA_LEAN_KERNELS=1``, which that server sets) also
leave out ``debugpy`` (see :data:`KERNEL_ABSENT`).

Learners' servers (``jupyterhub.singleuser``) also leave out JupyterHub's own database layer:
``jupyterhub.singleuser`` imports ``jupyterhub.log`` for its access log, which imports
``jupyterhub.handlers`` (the hub's page handlers, for one ``isinstance`` check against the hub's
health-check handler) and ``jupyterhub.metrics`` (which imports ``jupyterhub.orm`` for a
hub-side collector); ``jupyterhub.orm`` imports alembic and the SQLAlchemy ORM, and
``jupyterhub.utils``, ``jupyterhub.scopes`` and ``jupyterhub.roles`` import SQLAlchemy for
hub-side functions. About 34 MB in every learner's server for code that only runs inside the
hub. :func:`lean_singleuser` puts a stand-in for the hub's handlers package in ``sys.modules``
(a single-user server never serves the hub's health check, so the ``isinstance`` is false as
before; any other use of the hub's handlers fails loudly with ImportError) and defers
``jupyterhub.orm``, ``jupyterhub.roles`` and ``sqlalchemy``: each runs its real code the first
time anything reads one of its attributes (:class:`Deferred`), so nothing ever sees a stub;
until then ``from sqlalchemy.exc import SQLAlchemyError`` loads only ``sqlalchemy.exc`` and
``sqlalchemy.util``. ``requests`` (imported by ``jupyterlab_server``, which Voila uses, for
extension listings no learner's server is configured with) is deferred the same way.

Standard library only: it runs before anything else in the process.
"""

from __future__ import annotations

import importlib.util
import os
import runpy
import sys
import types

# optional imports left out of people's servers and kernels (see above)
ABSENT = ("rfc3987_syntax",)


# set by learners' servers for their kernels: "1" leaves the debugger out of them (below)
LEAN_KERNELS = "XUEFA_LEAN_KERNELS"
# left out of learners' kernels: ipykernel imports debugpy (~8 MB) for JupyterLab's debugger
# panel whenever it is installed; a learner's pages (Voila) never debug. Without it ipykernel
# reports ``debugger: false`` and starts no debug thread. Trainers' kernels keep it.
KERNEL_ABSENT = ("debugpy",)


def block(names: tuple[str, ...] = ABSENT) -> None:
    for name in names:
        # None in sys.modules makes ``import name`` raise ImportError
        sys.modules.setdefault(name, None)


HUB_HANDLERS = "jupyterhub.handlers"
# deferred in learners' servers, each after the ones it names (see the module doc)
DEFERRED = {"sqlalchemy": (), "jupyterhub.roles": ("sqlalchemy",),
            "jupyterhub.orm": ("sqlalchemy", "jupyterhub.roles"), "requests": ()}
# submodules imported without waking their deferred package: what ``from sqlalchemy.exc import
# SQLAlchemyError`` (jupyterhub.utils) loads
EARLY = ("sqlalchemy.exc", "sqlalchemy.util")


class HealthCheckHandler:
    """Stands in for ``jupyterhub.handlers.pages.HealthCheckHandler`` (the hub's own /health
    handler) in ``jupyterhub.log``'s ``isinstance`` check: no handler of a single-user server is
    one."""


class Deferred(types.ModuleType):
    """A module whose code runs the first time anything reads an attribute it does not have
    yet. Its ``__spec__``, ``__path__`` and ``__name__`` are there from the start, so ``import x``
    and ``from . import x`` only bind it (unlike ``importlib.util.LazyLoader``, whose modules
    wake on the import system's own look at ``__spec__``)."""

    def __getattr__(self, attr):
        # a submodule still being imported (``from .. import exc`` inside sqlalchemy.util, as
        # the import system itself falls back to): no reason to wake the package
        sub = sys.modules.get(f"{self.__name__}.{attr}")
        if sub is not None:
            return sub
        wake(self)
        return getattr(self, attr)


def wake(module) -> None:
    """Run a :class:`Deferred` module's code now (after the modules it waits for)."""
    if type(module) is not Deferred:
        return
    module.__class__ = types.ModuleType
    for name in DEFERRED.get(module.__name__, ()):
        wake(sys.modules.get(name))
    module.__spec__.loader.exec_module(module)


class WakeFinder:
    """Wakes a deferred package before any of its submodules (other than :data:`EARLY`) is
    imported: the package's own import order is what keeps its submodules free of circular
    imports."""

    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top == name or top not in DEFERRED or name.startswith(EARLY):
            return None
        if type(sys.modules.get(top)) is not Deferred:
            return None
        wake(sys.modules[top])
        module = sys.modules.get(name)
        if module is None:
            return None  # not among the package's own imports: found and loaded as usual
        # The package's own import just loaded it. The import system, asked for it before, would
        # load it again (a second module object) from the module's own spec; with no spec on the
        # module it takes ours, whose loader hands the same object back and restores its spec.
        loader = _Loaded(module)
        module.__spec__ = None
        return importlib.util.spec_from_loader(name, loader)


class _Loaded:
    """Loader of a module already in ``sys.modules`` (see :class:`WakeFinder`)."""

    def __init__(self, module):
        self.module, self.spec = module, module.__spec__

    def create_module(self, spec):
        return self.module

    def exec_module(self, module):
        module.__spec__ = self.spec


def defer(name: str) -> None:
    """Register ``name`` (not imported yet) as a :class:`Deferred` module."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    module.__class__ = Deferred
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        # ``from . import orm`` takes the package's attribute: no read on the module itself
        setattr(sys.modules[parent], child, module)


def lean_singleuser() -> None:
    """Leave the hub's handlers, ORM, SQLAlchemy and requests out of a single-user server."""
    if HUB_HANDLERS not in sys.modules:
        handlers = types.ModuleType(HUB_HANDLERS, "stand-in: the hub's handlers (hub_config.home.lean)")
        handlers.__path__ = []  # any other submodule: ImportError
        pages = types.ModuleType(HUB_HANDLERS + ".pages", "stand-in (hub_config.home.lean)")
        pages.HealthCheckHandler = HealthCheckHandler
        handlers.pages = pages
        sys.modules[HUB_HANDLERS] = handlers
        sys.modules[pages.__name__] = pages
    for name in DEFERRED:
        defer(name)
    if not any(isinstance(f, WakeFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, WakeFinder())


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2:
        raise SystemExit("usage: python -m hub_config.home.lean MODULE [ARGS...]")
    block()
    module = argv[1]
    if module == "jupyterhub.singleuser":
        lean_singleuser()
        # inherited by the kernels this server starts (its quiz pages)
        os.environ[LEAN_KERNELS] = "1"
    elif module == "ipykernel_launcher" and os.environ.get(LEAN_KERNELS) == "1":
        block(KERNEL_ABSENT)
    sys.argv = [module, *argv[2:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
