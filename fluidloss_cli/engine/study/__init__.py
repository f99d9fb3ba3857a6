"""`fluidloss study`: a whole comparison of losses from one config: planned cells, resumable sharded runs, one report."""
