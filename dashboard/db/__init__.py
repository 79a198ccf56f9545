"""Storage: typed models, the engine factory, the batched writer and the query layer."""
