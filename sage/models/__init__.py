"""The models at the vector interface: the teacher, the body both sides share, and teacher fine-tuning."""
