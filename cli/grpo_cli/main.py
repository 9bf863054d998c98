"""`grpo`: render and validate GRPOJob manifests without a cluster, print the CRD.

    grpo render FILE [--image IMG] [--namespace NS]   every object the operator would create (YAML stream)
    grpo validate FILE                                 the operator's validation; exit 1 when invalid
    grpo crd                                           the GRPOJob CustomResourceDefinition
    grpo train ...                                     provided by grpo_cli.train when installed

Exit status: 0 ok, 1 invalid input, 2 usage error.
"""

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Callable

from grpo_api import GRPOJobInvalid, parse_grpojob
from grpo_api.crd import render_crd_yaml
from grpo_operator.builders import build_children, default_image

from .manifests import RENDER_UID, Document, ManifestError, dump_stream, grpojob_documents, load_documents
from .verl_report import command_comment, report

# Extension point: subcommands implemented in other modules, imported only when run. Each module defines
# `main(argv: list[str]) -> int | None` and parses its own arguments.
DEFERRED_COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("grpo_cli.train", "train a GRPOJob (./train.sh); see `grpo train --help`"),
    "logs": ("grpo_cli.logs", "print (--follow: stream) the trainer's log of a GRPOJob; see `grpo logs --help`"),
}


def _err(msg: str) -> None:
    print(msg, file=sys.stderr)


def _grpojob_docs(path: str) -> list[Document] | None:
    """The GRPOJob documents of a file; None (the reason printed) when there are none or it is unreadable."""
    try:
        docs = list(grpojob_documents(load_documents(path)))
    except ManifestError as err:
        _err(f"error: {err}")
        return None
    if not docs:
        _err(f"error: {path}: no GRPOJob document found (kind: GRPOJob, apiVersion: grpo.dev/v1alpha1)")
        return None
    return docs


def cmd_render(args: argparse.Namespace) -> int:
    docs = _grpojob_docs(args.file)
    if docs is None:
        return 1
    objects, comments, failed = [], [], False
    for doc in docs:
        try:
            job = parse_grpojob(doc.body, source=f"{args.file} ({doc.label})")
        except GRPOJobInvalid as err:
            _err(str(err))
            failed = True
            continue
        namespace = args.namespace or job.metadata.namespace or "default"
        check = report(job, f"{args.file} ({doc.label})")
        if check.error:
            _err(f"invalid GRPOJob in {args.file} ({doc.label}):\n  - spec.overrides: {check.error}")
            failed = True
            continue
        comments.append(command_comment(job))
        try:
            objects.extend(build_children(job, uid=RENDER_UID, image=args.image or default_image(),
                                          namespace=namespace))
        except ValueError as err:
            _err(f"invalid GRPOJob in {args.file} ({doc.label}):\n  - {err}")
            failed = True
    if failed:
        return 1
    sys.stdout.write("".join(comments) + dump_stream(objects))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    jobs = _grpojob_docs(args.file)
    if jobs is None:
        return 1
    invalid = 0
    for doc in jobs:
        try:
            job = parse_grpojob(doc.body)
        except GRPOJobInvalid as err:
            invalid += 1
            _err(f"{args.file}: {doc.label}: invalid")
            for line in err.errors:
                _err(f"  - {line}")
            continue
        check = report(job, f"{args.file}: {doc.label}")
        if check.error:
            invalid += 1
            _err(f"{args.file}: {doc.label}: invalid")
            _err(f"  - spec.overrides: {check.error}")
            continue
        print(f"{args.file}: {doc.label}: valid ({'RayJob' if job.spec.is_multinode else 'Job'}, "
              f"engine {job.spec.engine})")
    return 1 if invalid else 0


def cmd_crd(_: argparse.Namespace) -> int:
    sys.stdout.write(render_crd_yaml())
    return 0


def run_deferred(name: str, argv: list[str]) -> int:
    module_name, _ = DEFERRED_COMMANDS[name]
    entry: Callable[[list[str]], int | None] = importlib.import_module(module_name).main
    return int(entry(argv) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grpo", description="GRPO training operator tools.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    render = sub.add_parser("render", help="print every object the operator would create for a GRPOJob manifest")
    render.add_argument("file", metavar="FILE", help="GRPOJob manifest (multi-document YAML; - for stdin)")
    render.add_argument("--image", help="trainer image when spec.image is unset (default: $GRPO_TRAINER_IMAGE "
                                        "or the release image)")
    render.add_argument("--namespace", "-n", help="namespace of the objects (default: metadata.namespace or "
                                                  "'default')")
    render.set_defaults(func=cmd_render)

    validate = sub.add_parser("validate", help="check GRPOJob manifests the way the operator does")
    validate.add_argument("file", metavar="FILE", help="manifest (multi-document YAML; other kinds are skipped)")
    validate.set_defaults(func=cmd_validate)

    crd = sub.add_parser("crd", help="print the GRPOJob CustomResourceDefinition")
    crd.set_defaults(func=cmd_crd)

    for name, (_, help_text) in DEFERRED_COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)  # listed in --help; run by run_deferred
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DEFERRED_COMMANDS:
        return run_deferred(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
