#!/usr/bin/env python3
"""PyTorch CPU peer for the engine benchmark: the same MLP and CNN with the same
weights (dumped by `swapserve_engine_bench --dump_weights=DIR`), timed the same way
(one thread, per-call latency at batch 1, 32, 256, best of 5 runs). The timing
includes Python's per-op dispatch (about 1-2 us per torch call on the CI machine),
as a PyTorch-in-Python server would pay it. Prints JSON:
{"torch": version, "threads": n, "blas": ..., "max_abs_diff": {...}, "us": {model: {batch: us}}}
then, when any model's outputs differ from ours by more than TOLERANCE (or are NaN,
or have another shape), names the model and the difference on stderr and exits 1:
timings of engines that disagree compare nothing.
"""
import json
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

# Both engines compute in float32 with different summation orders; the README's
# figures agree to ~6e-7, so 1e-4 is far above rounding and far below a wrong op.
TOLERANCE = 1e-4


def load(d):
    manifest = json.load(open(f"{d}/manifest.json"))
    return [torch.from_numpy(np.fromfile(f"{d}/{m['file']}", dtype="<f4").reshape(m["shape"]))
            for m in manifest]


def mlp(w):
    k0, b0, k1, b1 = w
    k0t, k1t = k0.t().contiguous(), k1.t().contiguous()  # torch wants [out, in]
    return lambda x: F.linear(F.relu(F.linear(x, k0t, b0)), k1t, b1)


def cnn(w):
    c0, cb0, c1, cb1, k0, b0, k1, b1 = w
    c0t = c0.permute(3, 2, 0, 1).contiguous()  # HWIO -> OIHW
    c1t = c1.permute(3, 2, 0, 1).contiguous()
    k0t, k1t = k0.t().contiguous(), k1.t().contiguous()

    def run(x_nhwc):
        x = x_nhwc.permute(0, 3, 1, 2)
        x = F.max_pool2d(F.relu(F.conv2d(x, c0t, cb0)), 2)
        x = F.max_pool2d(F.relu(F.conv2d(x, c1t, cb1)), 2)
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # Keras flattens NHWC
        return F.linear(F.relu(F.linear(x, k0t, b0)), k1t, b1)
    return run


def time_us(fn, x, repetitions=5, min_seconds=0.2):
    """Per-call latency: the best of `repetitions` runs of >= min_seconds each
    (the engine benchmark reports the same statistic)."""
    for _ in range(5):
        fn(x)
    best = float("inf")
    for _ in range(repetitions):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < min_seconds:
            fn(x)
            n += 1
        best = min(best, (time.perf_counter() - start) / n * 1e6)
    return best


def main(weights_dir):
    torch.set_num_threads(1)
    shapes = {"mlp": (784,), "cnn": (28, 28, 1)}
    result = {"torch": torch.__version__, "threads": torch.get_num_threads(),
              "blas": torch.__config__.show().split("BLAS_INFO=")[-1].split(",")[0]
              if "BLAS_INFO=" in torch.__config__.show() else "unknown",
              "max_abs_diff": {}, "us": {}}
    problems = {}  # model -> why its outputs disagree with ours
    with torch.inference_mode():
        for name, build in (("mlp", mlp), ("cnn", cnn)):
            d = f"{weights_dir}/{name}"
            fn = build(load(d))
            x = torch.from_numpy(np.fromfile(f"{d}/input.bin", dtype="<f4").reshape(4, *shapes[name]))
            ours = np.fromfile(f"{d}/output.bin", dtype="<f4").reshape(4, -1)
            theirs = fn(x).numpy()
            # Same shape first: numpy would broadcast a [4, 1] against a [4, 10].
            if theirs.shape != ours.shape:
                problems[name] = f"output shapes differ: torch {theirs.shape}, ours {ours.shape}"
                result["max_abs_diff"][name] = float("inf")
            else:
                result["max_abs_diff"][name] = float(np.abs(theirs - ours).max())
            result["us"][name] = {}
            for batch in (1, 32, 256):
                xb = torch.rand(batch, *shapes[name])
                result["us"][name][batch] = time_us(fn, xb)
    json.dump(result, sys.stdout, indent=2)
    print()
    sys.stdout.flush()
    for name, diff in result["max_abs_diff"].items():
        if name not in problems and not diff <= TOLERANCE:  # `not <=`: NaN fails too
            problems[name] = f"max |swapserve - torch| = {diff:.3g} > {TOLERANCE:g}"
    for name, why in problems.items():
        print(f"torch_peer: FAIL: {name} disagrees on the reference input: {why}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
