"""The networks (small CNN, EfficientNetV2S, MobileNetV3Small) and the balanced loss.

May import from fedcore: errors, config.
"""
