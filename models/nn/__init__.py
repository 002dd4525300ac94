"""Network blocks the kinds share, so no kind lends another its private parts: the residual blocks with a time
input, timestep embeddings and the EMA of weights (:mod:`.blocks`), the image-to-image U-Net and PatchGAN
(:mod:`.translation`), the text-conditioned U-Net with cross-attention (:mod:`.text_unet`) and the word
tokenizer (:mod:`.tokenizer`)."""
