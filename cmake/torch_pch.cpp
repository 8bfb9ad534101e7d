// Anchor for the shared precompiled <torch/torch.h> (see ssmlab_torch_target in SsmlabHelpers.cmake).
int ssmlab_torch_pch_anchor() { return 0; }
