"""Where examples come from: dataset sources (embedded, torchvision, image folders), the canonical images and their
train / val / test pools, tasks drawn from them, and the labelled budget a method or a transfer reads of a target."""
