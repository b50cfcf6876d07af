"""python -m publish: a model folder to the Hub, the app to a Space, or a folder as the embedded default.

    python -m publish FOLDER USER/NAME [--private]
    python -m publish --space USER/NAME --model USER/MODEL [--private]
    python -m publish FOLDER --embed [--temperature T --top-p P]

docs/deployment.md says what each writes.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from musicgen.config import FRAMES_RECIPE

from . import PublishError
from .folder import embed, publish


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m publish", description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, nargs="?", help="the model folder to publish")
    parser.add_argument("repo_id", nargs="?", help="user/name on the Hub")
    parser.add_argument("--space", metavar="USER/NAME", help="create or update this Hugging Face Space running the "
                        "app on --model")
    parser.add_argument("--model", metavar="USER/MODEL", help="with --space: the Hub model the Space serves")
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--embed", action="store_true",
                        help="instead of publishing, make FOLDER the app's embedded default (assets/model)")
    parser.add_argument("--temperature", type=float, help="with --embed: default sampling temperature")
    parser.add_argument("--top-p", type=float, help="with --embed: default top-p")
    parser.add_argument("--memory-smoothing", type=float,
                        help="with --embed: turn the piece memory on (default context lengths) with this "
                             "smoothing; 0 turns it off")
    parser.add_argument("--data", type=Path, help="with --embed: the training folder, to redo the evaluation")
    args = parser.parse_args(argv)
    if args.space:
        from .space import publish_space

        if not args.model:
            parser.error("--space needs --model USER/MODEL: the Hub model the Space serves")
        return pushed(lambda: publish_space(args.space, args.model, args.private),
                      f"published the app on {args.model} to the Space {args.space}")
    if args.folder is None:
        parser.error("give the model folder and USER/NAME, or --space USER/NAME --model USER/MODEL")
    if args.embed:
        from musicgen.hub import EMBEDDED_MODEL

        sampling = {key: value for key, value in (("temperature", args.temperature), ("top_p", args.top_p))
                    if value is not None}
        if args.memory_smoothing == 0:
            sampling["memory_orders"] = []
        elif args.memory_smoothing is not None:
            sampling.update(memory_orders=FRAMES_RECIPE["memory_orders"], memory_smoothing=args.memory_smoothing)
        embed(args.folder, EMBEDDED_MODEL, args.data, **sampling)
        print(f"embedded {args.folder} as {EMBEDDED_MODEL}")
        return 0
    if not args.repo_id:
        parser.error("give the Hub repository as USER/NAME (or --embed)")
    return pushed(lambda: publish(args.folder, args.repo_id, args.private), f"published {args.folder}")


def pushed(push, done: str) -> int:
    """Run a push: 0 and what was done with its URL, or 1 and why it failed (how to retry)."""
    try:
        url = push()
    except PublishError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{done}: {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
