"""Unlearn 10% of CIFAR-10 (the cifar-10-batches-py pickle batches).

    python examples/unlearn_cifar10.py --root /data/cifar10              # official 50,000 / 10,000 split
    python examples/unlearn_cifar10.py --root /data/cifar10 --test-only  # only test_batch: split it 85/15

Get cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html (or download=True).
"""

from _unlearn_common import main_for, split_in_two

from masimu_env import datasets


def make(args):
    if args.test_only:
        return split_in_two(datasets.load("cifar10", root=args.root, split="test"))
    return (datasets.load("cifar10", root=args.root, split="train"),
            datasets.load("cifar10", root=args.root, split="test"))


def extra(p):
    p.add_argument("--test-only", action="store_true", help="use only test_batch, split 85/15 (seeded)")


if __name__ == "__main__":
    main_for("cifar10", __doc__.splitlines()[0], make, extra)
