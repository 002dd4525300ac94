"""What a trained model's numbers say: latent-space maths and projections, t-SNE/UMAP maps, the quality
yardstick and its classifier, likelihood diagnostics, side-by-side comparison and short-prompt adherence.
"""
