"""AIHF, its ablations, RLHF, IPL, BC and SAC on the true reward on Hopper-v5 (see benchmarks/profiles.py).

python -m benchmarks.hopper                                   # quick profile (about 15 min on 2 CPU cores)
python -m benchmarks.hopper --profile paper                   # the AIHF paper's protocol (hours)
python -m benchmarks.hopper --num-prefs 500 2000 20000        # preference-scarcity sweep
python -m benchmarks.hopper --methods aihf rlhf-batches ipl-batches  # baselines with AIHF's demo batches
python -m benchmarks.hopper --inner crossq                    # AIHF and sac-true on CrossQ (or tqc)
python -m benchmarks.hopper --help                            # ends with the paper-length command, CPU-hours
"""

from benchmarks.run import main

if __name__ == "__main__":
    main("Hopper-v5")
