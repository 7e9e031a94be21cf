"""Code that runs inside the inference image. Imports nothing from the seller-side packages."""
