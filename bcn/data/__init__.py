"""Detection data sets: the PascalVOC reader, a generated data set and a checker."""
