public enum PatchbayCodecsPlaceholder {}
