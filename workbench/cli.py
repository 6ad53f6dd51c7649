"""The ``workbench`` command line: ``workbench library ls | show NAME[@V] | history NAME | rm NAME@V``.

Errors print one line to stderr and exit with status 2, never a traceback (set ``WORKBENCH_DEBUG=1``
to see the traceback of an unexpected error). New command groups (``workbench reproduce
...``) add a subparser in :func:`build_parser` and a handler in :data:`HANDLERS`.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Callable, Sequence

from .core.errors import WorkbenchError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench", description="NTPT workbench command line")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    loc = argparse.ArgumentParser(add_help=False)
    loc.add_argument("--library", metavar="LOCATION", default=argparse.SUPPRESS,
                     help="library path or fsspec URL (default: $WORKBENCH_LIBRARY or ./library)")
    lib = commands.add_parser("library", parents=[loc], help="inspect and edit a library of neural functions")
    verbs = lib.add_subparsers(dest="verb", metavar="VERB", required=True)
    verbs.add_parser("ls", parents=[loc], help="list entries (latest version, signature, metrics)")
    show = verbs.add_parser("show", parents=[loc], help="show the manifest of NAME or NAME@VERSION")
    show.add_argument("ref", metavar="NAME[@VERSION]")
    show.add_argument("--json", action="store_true", help="print the manifest as JSON")
    hist = verbs.add_parser("history", parents=[loc], help="list every version of NAME")
    hist.add_argument("name", metavar="NAME")
    rm = verbs.add_parser("rm", parents=[loc], help="remove NAME@VERSION (its number is never reused)")
    rm.add_argument("ref", metavar="NAME@VERSION")

    exe = argparse.ArgumentParser(add_help=False)  # where independent parts run (workbench.executor)
    exe.add_argument("--executor", choices=("inline", "processes", "ray"), default=None,
                     help="inline (default), local processes (one torch thread each), or Ray")
    exe.add_argument("--workers", type=int, default=None, help="processes / local Ray CPUs (default: all cores)")
    exe.add_argument("--ray", metavar="ADDRESS", default=None,
                     help="'local' starts a local Ray on 127.0.0.1; an address (or $RAY_ADDRESS) joins a cluster")
    rep = commands.add_parser("reproduce", parents=[exe],
                              help="run one of the paper's experiments and write docs/results/NAME.{md,json}")
    rep.add_argument("experiment", metavar="EXPERIMENT", nargs="?", default=None,
                     help="an experiment name, 'all', or nothing to list them")
    rep.add_argument("--quick", action="store_true", help="the small smoke-test size (minutes)")
    rep.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    rep.add_argument("--out", metavar="DIR", default=None,
                     help="output directory (default docs/results, or out/reproduce-quick with --quick)")
    rep.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    rep.add_argument("--render", action="store_true",
                     help="re-write EXPERIMENT.md from the EXPERIMENT.json already in the output directory (no run)")

    sw = commands.add_parser("sweep", parents=[exe], help="a grid over TrainConfig fields x seeds x tasks: table + plot")
    sw.add_argument("--task", action="append", default=None, metavar="TASK",
                    help="a task to sweep (repeatable; see workbench.sweep.TASKS): add2x2, apply2x2")
    sw.add_argument("--grid", action="append", default=[], metavar="FIELD=V1,V2",
                    help="TrainConfig field and its values (repeatable), e.g. hole_lr=0.05,0.2")
    sw.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds (default 0)")
    sw.add_argument("--restarts", type=int, default=4, help="restarts per fit unless in the grid (default 4)")
    sw.add_argument("--steps", type=int, default=300, help="steps per fit unless in the grid (default 300)")
    sw.add_argument("--n", type=int, default=2000, help="training examples per task (default 2000)")
    sw.add_argument("--out", metavar="DIR", default="out/sweep", help="writes sweep.json, sweep.md, sweep.png")
    nb = commands.add_parser("notebooks", help="copy the tutorial notebooks (shipped in the package) into DIR")
    nb.add_argument("dir", metavar="DIR", help="where to copy them (created; existing files are kept)")
    nb.add_argument("--force", action="store_true", help="overwrite notebooks already in DIR")
    return parser


def notebooks_source():
    """Where the tutorial notebooks are: inside the installed wheel (``workbench/_notebooks``), or the
    checkout's ``notebooks/`` for an editable install."""
    from importlib.resources import files
    from pathlib import Path

    packaged = files("workbench") / "_notebooks"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[1] / "notebooks"


def cmd_notebooks(args: argparse.Namespace) -> int:
    from pathlib import Path

    src = notebooks_source()
    names = sorted(p.name for p in src.iterdir() if p.name.endswith(".ipynb")) if src.is_dir() else []
    if not names:
        raise UsageError(f"no tutorial notebooks found in {src} (is the package installed completely?)")
    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        target = out / name
        if target.exists() and not args.force:
            print(f"kept   {target} (exists; --force overwrites)")
            continue
        target.write_bytes((src / name).read_bytes())
        print(f"copied {target}")
    print(f"open them with: jupyter lab {out}")
    return 0


def _library(args: argparse.Namespace):
    from .library import Library

    return Library(getattr(args, "library", None))


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def cmd_library(args: argparse.Namespace) -> int:
    from .library.manifest import format_metrics
    from .library.names import check_name, parse_ref

    lib = _library(args)
    if args.verb == "ls":
        entries, broken = lib.scan()
        if not entries and not broken:
            print(f"library {lib.location} is empty")
            return 0
        if entries:
            rows = [("NAME", "LATEST", "VERSIONS", "SIGNATURE", "METRICS")]
            rows += [(s.name, str(s.latest), str(s.versions), s.signature, format_metrics(s.metrics))
                     for s in entries]
            print(_table(rows))
        for b in broken:  # flagged, after the readable entries; never a broken listing
            ref = b.name if b.version is None else f"{b.name}@{b.version}"
            print(f"! {ref}: unreadable: {b.problem}")
    elif args.verb == "show":
        ev = lib.info(*parse_ref(args.ref))
        print(json.dumps(ev.to_manifest(), indent=2) if args.json else repr(ev))
    elif args.verb == "history":
        rows = [("VERSION", "PARENT", "CREATED", "TASK", "METRICS", "SHA256")]
        rows += [(str(e.version), str(e.parent or "-"), e.created, e.task or "-", format_metrics(e.metrics),
                  e.weights_sha256[:12]) for e in lib.history(check_name(args.name))]
        print(_table(rows))
    elif args.verb == "rm":
        name, version = parse_ref(args.ref)
        if version is None:
            raise UsageError(f"rm needs an explicit version: {name}@VERSION")
        lib.remove(name, version)
        print(f"removed {name}@{version} from {lib.location}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from .reproduce import EXPERIMENTS, reproduce

    if args.experiment is None:
        print(_table([("EXPERIMENT", "WHAT")] + [(k, v[1]) for k, v in EXPERIMENTS.items()]))
        return 0
    names = list(EXPERIMENTS) if args.experiment == "all" else [args.experiment]
    if args.render:
        from pathlib import Path

        from .reproduce.common import load_result, write_result

        out = Path(args.out or ("out/reproduce-quick" if args.quick else "docs/results"))
        for name in names:
            _, md = write_result(load_result(out / f"{name}.json"), out)
            print(f"wrote {md}")
        return 0
    from .executor import make_executor

    with make_executor(args.executor, workers=args.workers, ray=args.ray) as executor:
        for name in names:
            command = shlex.join(["workbench", "reproduce", name] + (["--quick"] if args.quick else [])
                                 + ([f"--seed={args.seed}"] if args.seed else [])
                                 + ([f"--out={args.out}"] if args.out else []) + _executor_words(args))
            reproduce(name, quick=args.quick, seed=args.seed, out_dir=args.out, threads=args.threads, command=command,
                      progress=lambda line: print(line, flush=True), executor=executor)
    return 0


def _executor_words(args: argparse.Namespace) -> list[str]:
    return ([f"--executor={args.executor}"] if args.executor else []) + \
        ([f"--workers={args.workers}"] if args.workers else []) + ([f"--ray={args.ray}"] if args.ray else [])


def cmd_sweep(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .executor import make_executor
    from .sweep import TASKS, parse_grid, sweep
    from .train import TrainConfig

    names = args.task or []
    if not names:
        print(_table([("TASK", "WHAT")] + [(k, v[0]) for k, v in TASKS.items()]))
        return 0
    unknown = [t for t in names if t not in TASKS]
    if unknown:
        raise UsageError(f"unknown task(s) {unknown}; tasks: {', '.join(TASKS)}")
    grid = parse_grid(args.grid)
    base = TrainConfig(restarts=args.restarts, steps=args.steps, validate_every=max(1, min(50, args.steps // 4)))
    with make_executor(args.executor, workers=args.workers, ray=args.ray) as executor:
        res = sweep({t: TASKS[t][1](args.n) for t in names}, grid=grid, seeds=args.seeds, base=base,
                    executor=executor, progress=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(json.dumps(res.to_dict(), indent=2) + "\n")
    (out / "sweep.md").write_text(f"# Sweep ({res.executor}, {res.seconds:.0f} s)\n\n{res.table()}\n\n"
                                  "![sweep](sweep.png)\n")
    res.plot(out / "sweep.png")
    print(res.table())
    print(f"wrote {out / 'sweep.json'}, {out / 'sweep.md'} and {out / 'sweep.png'}"
          + (" (interrupted: partial)" if res.interrupted else ""))
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {"library": cmd_library, "reproduce": cmd_reproduce,
                                                             "sweep": cmd_sweep, "notebooks": cmd_notebooks}


class UsageError(Exception):
    """A command line that parses but makes no sense (e.g. ``rm NAME`` without a version)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0, or 2 on any error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse already printed usage / help
        return int(e.code or 0)
    try:
        return HANDLERS[args.command](args)
    except (WorkbenchError, UsageError, OSError) as e:
        print(f"workbench: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug or an input nobody foresaw: still one line, not a traceback
        if os.environ.get("WORKBENCH_DEBUG"):
            raise
        print(f"workbench: error: unexpected {type(e).__name__}: {_one_line(e)} "
              "(set WORKBENCH_DEBUG=1 for the traceback)", file=sys.stderr)
        return 2


def _one_line(e: BaseException) -> str:
    text = "; ".join(line.strip() for line in str(e).splitlines() if line.strip()) or type(e).__name__
    return text if len(text) <= 2000 else text[:2000] + " ..."


if __name__ == "__main__":
    sys.exit(main())
