"""webapp: the browser UI (predict, correct, history) in front of mlapp and dbapp."""
