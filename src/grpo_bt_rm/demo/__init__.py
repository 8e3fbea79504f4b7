"""The CPU demo: a synthetic preference task, a noisy rule teacher and the glue that runs the whole pipeline.

    bash scripts/demo.sh            # or `make demo`
"""
