"""Operations over a customer: the HTML report and the verify (drift) check."""
