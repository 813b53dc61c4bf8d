"""AIHF, its ablations, RLHF, IPL, BC and SAC on the true reward on HalfCheetah-v5 (see benchmarks/profiles.py).

python -m benchmarks.halfcheetah                                   # quick profile (about 15 min on 2 CPU cores)
python -m benchmarks.halfcheetah --profile paper                   # the AIHF paper's protocol (hours)
python -m benchmarks.halfcheetah --num-prefs 500 2000 20000        # preference-scarcity sweep
"""

from benchmarks.run import main

if __name__ == "__main__":
    main("HalfCheetah-v5")
