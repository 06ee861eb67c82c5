"""Unlearn a random 10% of the embedded 8x8 digits with Retrain, MU, IMU, MASMU and MASIMU (works offline).

    python examples/unlearn_digits.py [--methods retrain mu imu masmu masimu salun] [--seeds 3]
"""

from _unlearn_common import main_for

if __name__ == "__main__":
    main_for("digits", __doc__.splitlines()[0])
