"""Unlearn 10% of MNIST (IDX files in torchvision's MNIST/raw layout, gzipped or not).

    python examples/unlearn_mnist.py --root /data/mnist              # official 60,000 / 10,000 split
    python examples/unlearn_mnist.py --root /data/mnist --test-only  # only t10k files: 8,500 / 1,500 of them

Get the files from http://yann.lecun.com/exdb/mnist/ (or `masimu_env.datasets.load("mnist", root, download=True)`).
"""

from _unlearn_common import main_for, split_in_two

from masimu_env import datasets


def make(args):
    if args.test_only:
        return split_in_two(datasets.load("mnist", root=args.root, split="test"))
    return (datasets.load("mnist", root=args.root, split="train"), datasets.load("mnist", root=args.root, split="test"))


def extra(p):
    p.add_argument("--test-only", action="store_true",
                   help="use only the 10,000 test images, split 85/15 with a seeded permutation")


if __name__ == "__main__":
    main_for("mnist", __doc__.splitlines()[0], make, extra)
