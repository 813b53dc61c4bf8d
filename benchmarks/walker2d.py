"""AIHF, its ablations, RLHF, IPL, BC and SAC on the true reward on Walker2d-v5 (see benchmarks/profiles.py).

python -m benchmarks.walker2d                                   # quick profile (about 15 min on 2 CPU cores)
python -m benchmarks.walker2d --profile paper                   # the AIHF paper's protocol (hours)
python -m benchmarks.walker2d --num-prefs 500 2000 20000        # preference-scarcity sweep
python -m benchmarks.walker2d --methods aihf rlhf-batches ipl-batches  # baselines with AIHF's demo batches
python -m benchmarks.walker2d --inner crossq                    # AIHF and sac-true on CrossQ (or tqc)
python -m benchmarks.walker2d --help                            # ends with the paper-length command, CPU-hours
"""

from benchmarks.run import main

if __name__ == "__main__":
    main("Walker2d-v5")
