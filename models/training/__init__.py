"""Training: the one training loop (a generator of progress records), the run builder every way a run starts
uses, the run record kept after each epoch, the optimizer state that lets a run resume, and torch.distributed.
"""
