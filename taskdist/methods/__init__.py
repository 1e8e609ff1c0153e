"""Task distances and transferability scores: the Fisher Information and its per-sample engines, the Fisher Task
Distance, Task2Vec and its probes, LEEP / LogME / NCE / H-score, the coupled transfer distance, the transferability
bound and the TA-NAS complexity distance. :mod:`taskdist.methods.registry` names them without importing torch."""
