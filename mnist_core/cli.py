"""Command-line interface: `python -m mnist_core train | evaluate | predict | list`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from mnist_core.constants import ARCHITECTURES, MAX_BATCH_SIZE, MAX_EPOCHS, RUNS_SUBDIR
from mnist_core.errors import ConfigError, MnistStudioError

PROG = "python -m mnist_core"


def _ranged(kind: type, low: float | None, high: float | None, *, high_open: bool = False,
            low_open: bool = False) -> Callable[[str], float | int]:
    """An argparse type that parses `kind` and checks it lies in a range."""

    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(f"expected {kind.__name__}, got {text!r}") from e
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if too_low or too_high:
            left = "(" if low_open else "["
            right = ")" if high_open else "]"
            raise argparse.ArgumentTypeError(
                f"must be in {left}{low}, {'inf' if high is None else high}{right}, got {text}"
            )
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="TensorFlow's MNIST quickstart: train, evaluate, predict."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train a model and save it",
                                description="Train a model, print per-epoch metrics, save it.")
    train.add_argument("--epochs", type=_ranged(int, 1, MAX_EPOCHS), default=5,
                       help="passes over the training set (default 5)")
    train.add_argument("--dropout", type=_ranged(float, 0.0, 1.0, high_open=True), default=0.2,
                       help="dropout rate in [0, 1) (default 0.2)")
    train.add_argument("--batch-size", type=_ranged(int, 1, MAX_BATCH_SIZE), default=32,
                       help="examples per optimizer step (default 32)")
    train.add_argument("--learning-rate", type=_ranged(float, 0.0, 1.0, low_open=True),
                       default=1e-3, help="Adam's learning rate (default 0.001)")
    train.add_argument("--hidden-units", type=_ranged(int, 1, 4096), default=128,
                       help="units in the hidden Dense layer (default 128)")
    train.add_argument("--arch", choices=ARCHITECTURES, default="mlp",
                       help="mlp = the quickstart network (default); cnn = a small CNN")
    train.add_argument("--augment", action="store_true",
                       help="augment training images to look like drawn digits")
    train.add_argument("--seed", type=_ranged(int, 0, 2**31 - 1), default=0,
                       help="random seed (default 0)")
    train.add_argument("--limit", type=_ranged(int, 1, None), default=None,
                       help="train on only the first N training images")
    train.add_argument("--data", type=Path, default=None,
                       help="path to mnist.npz (default: $MNIST_DATA, then the bundled copy)")
    where = train.add_mutually_exclusive_group()
    where.add_argument("--out", type=Path, help="save to this .keras path (+ .json beside it)")
    where.add_argument("--name", help="save as models/runs/NAME.keras")
    train.add_argument("--description", default="", help="a note saved in the metadata")

    evaluate = commands.add_parser("evaluate", help="test loss, accuracy and mistakes",
                                   description="Evaluate a model on the 10,000 test images.")
    evaluate.add_argument("model", help="a model ref (quickstart, runs/NAME) or a .keras path")
    evaluate.add_argument("--data", type=Path, default=None, help="path to mnist.npz")

    predict = commands.add_parser("predict", help="classify images of digits",
                                  description="Classify PNG/JPEG images of handwritten digits.")
    predict.add_argument("model", help="a model ref (quickstart, runs/NAME) or a .keras path")
    predict.add_argument("images", nargs="+", type=Path, help="PNG or JPEG files")

    commands.add_parser("list", help="list saved models", description="List saved models.")
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
    from mnist_core.data import load_mnist
    from mnist_core.jobs import metadata_for, run_stem
    from mnist_core.store import ModelStore, save_model_file
    from mnist_core.training import ProgressEvent, TrainConfig, train

    config = TrainConfig(
        epochs=args.epochs, dropout=args.dropout, batch_size=args.batch_size,
        learning_rate=args.learning_rate, hidden_units=args.hidden_units, arch=args.arch,
        augment=args.augment, seed=args.seed, train_limit=args.limit,
    )
    store = ModelStore()
    ref = None
    if args.out is None:
        ref = f"{RUNS_SUBDIR}/{args.name}" if args.name else store.new_run_ref(run_stem(config))
    data = load_mnist(args.data)
    print(f"Training {config.arch} for {config.epochs} epochs (dropout {config.dropout}, "
          f"batch {config.batch_size}) on {min(len(data.x_train), args.limit or 10**9)} images")

    def report(event: ProgressEvent) -> None:
        if event.kind == "epoch":
            print(f"Epoch {event.epoch}/{event.epochs}  loss {event.loss:.4f}  "
                  f"accuracy {event.accuracy:.4f}  test_loss {event.val_loss:.4f}  "
                  f"test_accuracy {event.val_accuracy:.4f}  ({event.elapsed:.1f}s)", flush=True)

    result = train(config, data, progress=report)
    print(f"Test loss {result.test_loss:.4f}  test accuracy {result.test_accuracy:.2%}  "
          f"({result.seconds:.1f}s)")
    metadata = metadata_for(result, args.description)
    if args.out is not None:
        metadata.name = args.out.stem
        save_model_file(result.model, metadata, args.out)
        print(f"Saved {args.out}")
    else:
        info = store.save(result.model, metadata, ref)
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


def _cmd_predict(args: argparse.Namespace) -> None:
    from PIL import Image, UnidentifiedImageError

    from mnist_core.evaluate import predict_proba
    from mnist_core.preprocess import image_to_mnist

    model = _load(args.model)
    for path in args.images:
        try:
            with Image.open(path) as image:
                digit_image = image_to_mnist(image)
        except (OSError, UnidentifiedImageError) as e:
            raise MnistStudioError(f"{path}: not a readable image ({e})") from e
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
        line = info.label
        if info.problem:
            line += f"  (can't read metadata: {info.problem})"
        print(line)


COMMANDS = {"train": _cmd_train, "evaluate": _cmd_evaluate, "predict": _cmd_predict,
            "list": _cmd_list}


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
