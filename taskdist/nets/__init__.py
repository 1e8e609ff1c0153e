"""Networks and how they learn: the small CNN and torchvision backbones (a body and a linear head), the training
loop, the optimiser and linear heads fitted by Newton's method. Imports only the floor (specs, seeds, checks)."""
