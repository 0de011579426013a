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

Standard library only: it runs before anything else in the process.
"""

from __future__ import annotations

import runpy
import sys

# optional imports left out of people's servers and kernels (see above)
ABSENT = ("rfc3987_syntax",)


def block() -> None:
    for name in ABSENT:
        # None in sys.modules makes ``import name`` raise ImportError
        sys.modules.setdefault(name, None)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2:
        raise SystemExit("usage: python -m hub_config.home.lean MODULE [ARGS...]")
    block()
    module = argv[1]
    sys.argv = [module, *argv[2:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
