"""Chapter 2: DreamerV1, "Dream to Control" (Hafner, Lillicrap, Ba, Norouzi, ICLR 2020)."""
