"""How well a distance predicts transfer: the ground truth of transfer and its reliability, noise floors, the
asymmetric Mantel test, source selection, and the tables that combine them."""
