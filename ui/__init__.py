"""The Gradio web chat over rag.Pipeline (see ui/app.py)."""
