"""Command-line interface: `python -m mnist_core train | evaluate | predict | list | drawings`."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from mnist_core.config import ARCHITECTURES, DEFAULTS, LIMITS, Limit
from mnist_core.constants import RUNS_SUBDIR
from mnist_core.errors import ConfigError, ImageError, MnistStudioError
from mnist_core.settings import BACKENDS, ray_address, training_backend

PROG = "python -m mnist_core"


def _ranged(limit: Limit) -> Callable[[str], float | int]:
    """An argparse type that parses a setting and checks it against its TrainConfig limit."""

    def parse(text: str) -> float | int:
        try:
            value = limit.kind(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(
                f"expected {limit.kind.__name__}, got {text!r}") from e
        if not limit.contains(value):
            low = limit.kind(limit.low)
            high = "inf" if limit.high is None else limit.kind(limit.high)
            left, right = "(" if limit.low_open else "[", ")" if limit.high_open else "]"
            raise argparse.ArgumentTypeError(f"must be in {left}{low}, {high}{right}, got {text}")
        return value

    parse.__name__ = limit.kind.__name__  # argparse names the type in its messages
    return parse


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (and a pointer to --help), not the usage."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _setting(parser: argparse.ArgumentParser, name: str, help_text: str) -> None:
    """A --flag for a TrainConfig field, its default and range read from TrainConfig."""
    default = getattr(DEFAULTS, name)
    parser.add_argument(f"--{name.replace('_', '-')}", type=_ranged(LIMITS[name]),
                        default=default, help=f"{help_text} (default {default})")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG, description="TensorFlow's MNIST quickstart: train, evaluate, predict."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=_Parser)

    train = commands.add_parser("train", help="train a model and save it",
                                description="Train a model, print per-epoch metrics, save it.")
    _setting(train, "epochs", "passes over the training set")
    _setting(train, "dropout", "dropout rate in [0, 1)")
    _setting(train, "batch_size", "examples per optimizer step")
    _setting(train, "learning_rate", "Adam's learning rate")
    _setting(train, "hidden_units", "units in the hidden Dense layer")
    train.add_argument("--arch", choices=ARCHITECTURES, default=DEFAULTS.arch,
                       help="mlp = the quickstart network (default); cnn = a small CNN")
    train.add_argument("--augment", action="store_true",
                       help="augment training images to look like drawn digits")
    train.add_argument("--room-drawings", action="store_true",
                       help="add the room's labelled drawings to MNIST's training images "
                       "(see the drawings command)")
    _setting(train, "seed", "random seed")
    train.add_argument("--limit", type=_ranged(LIMITS["train_limit"]), default=None,
                       help="train on only the first N training images")
    train.add_argument("--data", type=Path, default=None,
                       help="path to mnist.npz (default: $MNIST_DATA, then the bundled copy)")
    where = train.add_mutually_exclusive_group()
    where.add_argument("--out", type=Path, help="save to this .keras path (+ .json beside it)")
    where.add_argument("--name", help="save as models/runs/NAME.keras")
    train.add_argument("--description", default="", help="a note saved in the metadata")
    train.add_argument("--backend", choices=BACKENDS, default=None,
                       help="where to train: local (default: $MNIST_TRAINING_BACKEND, then "
                       "local) or ray (the cluster at $RAY_ADDRESS, else a Ray of its own)")

    evaluate = commands.add_parser("evaluate", help="test loss, accuracy and mistakes",
                                   description="Evaluate a model on the 10,000 test images.")
    evaluate.add_argument("model", help="a model ref (quickstart, runs/NAME) or a .keras path")
    evaluate.add_argument("--data", type=Path, default=None, help="path to mnist.npz")

    predict = commands.add_parser("predict", help="classify images of digits",
                                  description="Classify PNG/JPEG images of handwritten digits.")
    predict.add_argument("model", help="a model ref (quickstart, runs/NAME) or a .keras path")
    predict.add_argument("images", nargs="+", type=Path, help="PNG or JPEG files")

    commands.add_parser("list", help="list saved models", description="List saved models.")

    drawings = commands.add_parser(
        "drawings", help="the room's labelled drawings: count, list, export",
        description="The drawings participants labelled on the Draw tab "
        "($MNIST_DRAWINGS_DIR, default models/drawings/).")
    action = drawings.add_subparsers(dest="action", required=True, metavar="ACTION",
                                     parser_class=_Parser)
    action.add_parser("count", help="how many of each digit", description="Count by digit.")
    action.add_parser("list", help="one line per drawing", description="List the drawings.")
    export = action.add_parser("export", help="write them as a Keras mnist.npz",
                               description="Write the drawings in the Keras mnist.npz layout "
                               "(uint8 28x28 images, uint8 labels).")
    export.add_argument("path", type=Path, help="the .npz file to write")
    export.add_argument("--into", choices=("train", "test"), default="train",
                        help="the split that holds them; the other is empty (default train)")
    return parser


def _load(model_arg: str):
    """Load a model given as a store ref or as a .keras path."""
    from mnist_core.store import ModelStore, load_model_file

    path = Path(model_arg)
    if path.suffix == ".keras":  # a file path: the CLI's user owns their filesystem
        if not path.is_file():
            raise MnistStudioError(f"{model_arg}: no such file")
        return load_model_file(path)
    return ModelStore().load(model_arg)


def _cmd_train(args: argparse.Namespace) -> None:
    from mnist_core.store import check_name

    if args.name is not None:  # check the name before importing TF or training
        check_name(args.name)
    from mnist_core.config import TrainConfig
    from mnist_core.data import load_mnist
    from mnist_core.jobs import metadata_for
    from mnist_core.naming import run_stem
    from mnist_core.store import ModelStore, save_model_file
    from mnist_core.training import ProgressEvent, train

    config = TrainConfig(
        epochs=args.epochs, dropout=args.dropout, batch_size=args.batch_size,
        learning_rate=args.learning_rate, hidden_units=args.hidden_units, arch=args.arch,
        augment=args.augment, seed=args.seed, train_limit=args.limit,
        room_drawings=args.room_drawings,
    )
    store = ModelStore()
    store.clean_leftovers()  # temp files of saves killed earlier (older than a minute)
    data = load_mnist(args.data)
    print(f"Training {config.arch} for {config.epochs} epochs (dropout {config.dropout}, "
          f"batch {config.batch_size}) on {min(len(data.x_train), args.limit or 10**9)} images")
    if config.room_drawings:
        from mnist_core.drawings import TRAINING_REPEAT, DrawingStore

        print(f"  + the room's {DrawingStore().count()} labelled drawings, "
              f"each {TRAINING_REPEAT} times")

    def report(event: ProgressEvent) -> None:
        if event.kind == "epoch":
            print(f"Epoch {event.epoch}/{event.epochs}  loss {event.loss:.4f}  "
                  f"accuracy {event.accuracy:.4f}  test_loss {event.val_loss:.4f}  "
                  f"test_accuracy {event.val_accuracy:.4f}  ({event.elapsed:.1f}s)", flush=True)

    if (args.backend or training_backend()) == "ray":
        from mnist_core.ray_backend import train_on_ray

        print("Training on Ray", flush=True)
        result = train_on_ray(config, data, report, ray_address())
    else:
        result = train(config, data, progress=report)
    print(f"Test loss {result.test_loss:.4f}  test accuracy {result.test_accuracy:.2%}  "
          f"({result.seconds:.1f}s)")
    metadata = metadata_for(result, args.description)
    if args.out is not None:
        metadata.name = args.out.stem
        save_model_file(result.model, metadata, args.out)
        print(f"Saved {args.out}")
    else:
        # A fresh name is reserved only now, so a long run holds no name it may never use.
        ref = f"{RUNS_SUBDIR}/{args.name}" if args.name else store.new_run_ref(run_stem(config))
        info = store.save(result.model, metadata, ref)  # releases the reservation
        print(f"Saved {info.path}")


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from mnist_core.data import load_mnist
    from mnist_core.evaluate import evaluate

    model = _load(args.model)
    data = load_mnist(args.data)
    result = evaluate(model, data.x_test, data.y_test)
    print(f"Test loss {result.loss:.4f}  test accuracy {result.accuracy:.2%}  "
          f"({len(result.misclassified)} of {len(data.y_test)} wrong)")
    print("Per digit: " + "  ".join(
        f"{digit}: {accuracy:.1%}" for digit, accuracy in enumerate(result.per_class_accuracy)))
    print("Confusion matrix (rows = true digit, columns = predicted):")
    print("     " + " ".join(f"{d:>5}" for d in range(10)))
    for digit, row in enumerate(result.confusion):
        print(f"{digit:>4} " + " ".join(f"{count:>5}" for count in row))


def _open_digit(path: Path):  # -> (28, 28) float32 array or None
    """Read one image file as an MNIST digit; MnistStudioError if it can't be used."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    from mnist_core.preprocess import MAX_IMAGE_PIXELS, image_to_mnist

    try:
        with warnings.catch_warnings():
            # Pillow warns from 89 MP on; image_to_mnist refuses from MAX_IMAGE_PIXELS.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return image_to_mnist(image)
    except Image.DecompressionBombError as e:
        pixels = re.search(r"\((\d+) pixels\)", str(e))
        size = f"{int(pixels[1]) / 1e6:.0f} megapixels; " if pixels else ""
        raise MnistStudioError(f"{path}: too large ({size}the limit is "
                               f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels)") from e
    except ImageError as e:
        raise MnistStudioError(f"{path}: {e}") from e
    except (OSError, UnidentifiedImageError) as e:
        raise MnistStudioError(f"{path}: not a readable image ({e})") from e


def _cmd_predict(args: argparse.Namespace) -> None:
    from mnist_core.evaluate import predict_proba

    model = _load(args.model)
    for path in args.images:
        digit_image = _open_digit(path)
        if digit_image is None:
            print(f"{path}: no digit found (blank image)")
            continue
        probabilities = predict_proba(model, digit_image)[0]
        digit = int(probabilities.argmax())
        print(f"{path}: {digit} ({probabilities[digit]:.1%})")


def _cmd_list(args: argparse.Namespace) -> None:
    from mnist_core.store import ModelStore

    models = ModelStore().list_models()
    if not models:
        print("No models yet.")
    for info in models:
        line = info.label if info.shipped else f"{info.ref}  {info.label}"
        if not info.usable:
            line += f"  (can't use it: {info.problem})"
        elif info.problem:
            line += f"  (can't read metadata: {info.problem})"
        print(line)


def _cmd_drawings(args: argparse.Namespace) -> None:
    from datetime import UTC, datetime

    from mnist_core.drawings import DrawingStore

    store = DrawingStore()
    if args.action == "export":
        count = store.export(args.path, into=args.into)
        print(f"Wrote {count} drawing{'' if count == 1 else 's'} to {args.path} "
              f"(x_{args.into}, y_{args.into})")
        return
    if args.action == "count":
        counts = store.counts()
        print("  ".join(f"{digit}: {count}" for digit, count in enumerate(counts))
              + f"  total: {int(counts.sum())}")
        return
    infos = store.list()
    if not infos:
        print(f"No drawings yet in {store.root}.")
    for info in infos:
        when = datetime.fromtimestamp(info.created_us / 1e6, UTC).isoformat(timespec="seconds")
        print(f"{info.id}  label {info.label}  {when}")


COMMANDS = {"train": _cmd_train, "evaluate": _cmd_evaluate, "predict": _cmd_predict,
            "list": _cmd_list, "drawings": _cmd_drawings}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except (MnistStudioError, ConfigError) as e:
        print(f"{PROG} {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    return 0
