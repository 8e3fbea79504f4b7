"""Density weighting: embed prompts, weight each pair inversely to its prompt's k-NN density, attach the weights.

    python -m grpo_bt_rm.density.compute --in train.jsonl --out_dir D   # weights.jsonl, density_weights.npy, ...
    python -m grpo_bt_rm.density.attach --in train.jsonl --weights D --out train_dw.jsonl
"""

from grpo_bt_rm.density.knn import clip_ratio, density_weights, effective_sample_size, knn_mean_dist

__all__ = ["clip_ratio", "density_weights", "effective_sample_size", "knn_mean_dist"]
