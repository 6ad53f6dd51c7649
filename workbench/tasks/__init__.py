"""Tasks of the paper: a sketch plus its data builder each."""
