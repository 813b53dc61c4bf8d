"""AIHF, its ablations, RLHF, IPL, BC and SAC on the true reward on HalfCheetah-v5 (see benchmarks/profiles.py).

python -m benchmarks.halfcheetah                                   # quick profile (about 15 min on 2 CPU cores)
python -m benchmarks.halfcheetah --profile paper                   # the AIHF paper's protocol (hours)
python -m benchmarks.halfcheetah --num-prefs 500 2000 20000        # preference-scarcity sweep
python -m benchmarks.halfcheetah --methods aihf rlhf-batches ipl-batches  # baselines with AIHF's demo batches
python -m benchmarks.halfcheetah --inner crossq                    # AIHF and sac-true on CrossQ (or tqc)
python -m benchmarks.halfcheetah --help                            # ends with the paper-length command, CPU-hours
"""

from benchmarks.run import main

if __name__ == "__main__":
    main("HalfCheetah-v5")
