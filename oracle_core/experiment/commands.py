"""Command line: ``python -m oracle_core run --layers conv1 --ratio 0.5 --profile cpu`` runs one setting
without a notebook (resuming from the store); every user mistake is one line on stderr and exit code 2. Any other
failure is one line too, naming a log file that holds the full traceback, and exit code 1 (``--debug``: the
traceback itself); results are written atomically, so a failure never leaves a half-written file."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import traceback
from datetime import datetime
from pathlib import Path

from ..base.errors import OracleError
from ..base.paths import default_results_root
from ..data import get_dataset_info
from ..models import build_model, prunable_layers
from .grid import plan, progress, projected_hours, run_grid
from .integrity import verify_store
from .runner import run_study
from .spec import StudySpec, expand_layers, make_spec, profile_of, short_run_spec


class _Parser(argparse.ArgumentParser):
    """A usage mistake is one line and exit 2, as every other user mistake (not argparse's usage block)."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m oracle_core")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an unexpected failure")
    sub = parser.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    r = sub.add_parser("run", help="run (or resume) one setting and print its summary.json")
    r.add_argument("--experiment", default="lenet_mnist")
    r.add_argument("--model", default="lenet5_mini")
    r.add_argument("--dataset", default="mnist")
    r.add_argument("--layers", default="conv1", help="one layer or several joined by '+', e.g. conv1+conv2")
    r.add_argument("--ratio", type=float, default=0.5)
    r.add_argument("--n-masks", type=int, default=0, help="0 = every mask")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--repeats", type=int, default=None, help="default: the profile's")
    r.add_argument("--profile", default="cpu")
    r.add_argument("--wiring", default="correct")
    r.add_argument("--shared-order", action="store_true")
    r.add_argument("--vit-units", choices=("width", "heads"), default="width",
                   help="a ViT's pruning units: width (the paper's script: every head narrower) or heads (whole heads)")
    r.add_argument("--precision", default="fp32", help="retraining arithmetic: fp32 (the protocol), tf32 or bf16")
    r.add_argument("--short-retrain", action="store_true",
                   help="retrain with the profile's short recipe (the lesson's separate short run)")
    r.add_argument("--results", type=Path, default=None, help="results root (default ./results)")
    r.add_argument("--data", type=Path, default=None, help="data root (default ./data)")
    r.add_argument("--device", default=None)
    r.add_argument("--group-size", type=int, default=None, help="masks per wide model (engine K)")
    r.add_argument("--executor", choices=("local", "ray"), default="local")
    r.add_argument("--ray-address", default=None, help="an existing Ray cluster (default: start a local one)")
    g = sub.add_parser("grid", help="run (or resume) the paper's whole MNIST-family grid")
    g.add_argument("--profile", default="converged", help="converged (the book's answer), cpu, paper, smoke, ...")
    g.add_argument("--workers", type=int, default=2, help="processes, one thread each")
    g.add_argument("--only", default="", help="only settings whose label contains this text, e.g. 'conv2@'")
    g.add_argument("--list", action="store_true", help="print the settings, their mask counts and state; run nothing")
    g.add_argument("--group-size", type=int, default=None,
                   help="masks per wide model (default: 1 on a CPU, 256 on a GPU); each group's shard is stored")
    g.add_argument("--results", type=Path, default=None)
    g.add_argument("--data", type=Path, default=None)
    v = sub.add_parser("verify", help="check every folder of the results store (manifest, checksums, contents)")
    v.add_argument("--results", type=Path, default=None)
    v.add_argument("--seal", action="store_true",
                   help="check by content and seal folders finished before sealing existed (instead of failing them)")
    v.add_argument("--quiet", action="store_true", help="print only the folders that fail, and the count")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to resume (finished shards are kept)", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the one top-level handler: one line, the traceback in a log
        if args.debug:
            raise
        log = Path(tempfile.gettempdir()) / f"oracle_core-{datetime.now():%Y%m%d-%H%M%S}.log"
        log.write_text(traceback.format_exc())
        first = str(exc).splitlines()[0] if str(exc) else ""
        print(f"error: unexpected {type(exc).__name__}: {first} (full traceback in {log}; --debug shows it; "
              "please report it)", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace) -> int:
    if args.cmd == "grid":
        return _grid(args)
    if args.cmd == "verify":
        return _verify(args)
    if args.vit_units == "heads":
        if not args.model.startswith("vit_"):
            print(f"error: --vit-units heads applies to ViT models, not {args.model}: drop it", file=sys.stderr)
            return 2
        args.model = args.model.removesuffix("_heads") + "_heads"
    try:
        spec = make_spec(args.model, args.dataset, args.layers, args.ratio, args.n_masks, args.seed, args.repeats,
                         args.profile, args.wiring, args.shared_order, args.precision)
        if args.short_retrain:
            spec = short_run_spec(spec)
        res = run_study(spec, args.experiment, args.results, args.data, args.device, args.group_size,
                        executor=args.executor, ray_address=args.ray_address)
    except OracleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"dir": str(res.dir), **res.summary}, indent=2, sort_keys=True))
    return 0


def _grid(args: argparse.Namespace) -> int:
    try:
        if args.list:
            prog = progress(plan(args.profile, args.only, args.data), args.results)
            for r in prog:
                state = (f"failed verification: {r['failed']}" if r["failed"] else
                         "done" if r["complete"] else f"{r['done']}/{r['masks']} retrained"
                         + (" (+ the oracle's and criteria's picks)" if r["left"] == 0 else "") if r["done"]
                         else "to run") if r["data"] else "data missing"
                rate = f"{r['s_per_mask']:6.0f} s/mask" if r["s_per_mask"] else " " * 13
                print(f"{r['entry'].label:<48} {r['masks']:>5} masks  {r['spec'].key}  {rate}  {state}")
            hours, typical = projected_hours(prog, args.workers)
            left = sum(r["left"] for r in prog if r["data"])
            missing = [r for r in prog if not r["data"]]
            print(f"{len(prog)} settings, {sum(r['masks'] for r in prog)} mask-retrainings, {left} left"
                  + (f"; measured median {typical:.0f} s per mask per worker: about {hours:.1f} h left with "
                     f"{args.workers} worker(s)" if hours is not None else "; no measured time per mask yet")
                  + (f"; {len(missing)} setting(s) wait for their data ({sorted({r['entry'].dataset for r in missing})}"
                     ": `python -m oracle_core.data fetch NAME` says where the files go)" if missing else ""))
            return 0
        results = run_grid(args.profile, args.workers, args.only, args.results, args.data, group_size=args.group_size)
    except OracleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 1 if any(status != "done" for _, _, status in results) else 0


def _verify(args: argparse.Namespace) -> int:
    """One line per folder (ok / sealed / in progress / failed and why); exit 1 if any failed."""
    root = Path(args.results or default_results_root())
    if not root.is_dir():
        print(f"error: no results folder at {root}: give one with --results (or $ORACLE_RESULTS)", file=sys.stderr)
        return 2
    checks = verify_store(root, args.seal)
    for c in checks:
        if c.state == "failed" or not args.quiet:
            print(f"{c.state:<12} {c.folder:<36} {c.detail}")
    failed = sum(c.state == "failed" for c in checks)
    print(f"{len(checks)} folder(s): {failed} failed" + (" (each line says which file and the fix)" if failed else ""))
    return 1 if failed else 0


# ---- the command that produces a setting: one spelling for every page and message --------------------------

def layers_arg(spec: StudySpec) -> str:
    """The shortest --layers that names spec.layers: 'all', a block pattern, or the names joined by '+'."""
    info = get_dataset_info(spec.dataset)
    net = build_model(spec.model, info.in_channels, info.num_classes)
    names = tuple(prunable_layers(net))
    aliases = getattr(net, "layer_aliases", {})
    for alias, hits in aliases.items():
        if len(spec.layers) > 1 and tuple(hits) == tuple(spec.layers):
            return alias
    for pattern in ("all", "layer*.conv1"):
        try:
            if len(spec.layers) > 1 and expand_layers((pattern,), names) == tuple(spec.layers):
                return pattern if pattern == "all" else f"'{pattern}'"
        except OracleError:
            continue
    return spec.layers_text


def run_command(spec: StudySpec, experiment: str) -> str:
    """The CLI command that produces (or resumes) ``spec`` in results/<experiment>/."""
    prof = profile_of(spec)
    return (f"python -m oracle_core run --experiment {experiment} --model {spec.model} --dataset {spec.dataset} "
            f"--layers {layers_arg(spec)} --ratio {spec.ratio:g}"
            + (f" --n-masks {spec.n_masks}" if spec.n_masks else "")
            + (f" --seed {spec.seed}" if spec.seed else "")
            + ("" if spec.wiring == "correct" else f" --wiring {spec.wiring}") + f" --profile {spec.profile}"
            + ("" if spec.precision == "fp32" else f" --precision {spec.precision}")
            + (f" --repeats {spec.repeats}" if spec.repeats != prof.repeats else "")
            + (" --short-retrain" if spec.retrain != prof.retrain and spec.retrain == prof.short_retrain else ""))
