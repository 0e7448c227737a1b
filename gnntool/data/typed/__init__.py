"""Typed graphs: several node types and relations (PyG `HeteroData`), and their loaders.

`dataset.py` (`TypedDataset`, what every typed loader returns), `synthetic.py` (the generated
`synthetic_typed`), and the readers of a user's typed folder, knowledge-graph triples and
ogbn-mag. Relation names are spelt by the torch-free `gnntool.relation_names`.
"""
