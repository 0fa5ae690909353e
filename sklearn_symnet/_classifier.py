class SymNetClassifier: pass
