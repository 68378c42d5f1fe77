"""The vision function's evaluation: synthetic roof photos with boxed damage, and the local stage's scoring."""
