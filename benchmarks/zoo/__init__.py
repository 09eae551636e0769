"""The fault zoo: small training scripts, each a bug as users write it, or a healthy control.

Each script defines a one-line docstring, `EXPECT` (the kinds it must raise; () when healthy),
`ONSET` (the step its fault begins; None when healthy), optionally `ALLOW` (kinds the fault also
causes downstream, accepted but not required) and `run(logdir)`. `benchmarks/detection.py` scores them.
"""
