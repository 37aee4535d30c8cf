"""One image's P(pneumonia) and Grad-CAM; whether an upload looks like a chest X-ray.

May import from fedcore: errors, config, imaging, data, model, store.
"""
