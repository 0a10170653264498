# The crimelinkage R package (Porter & Reich, 0.0.4) scored under crimelens's grouped folds.
#
# Called by benchmarks/linkage_peer.py; not part of CI (it needs R with the package, igraph,
# geosphere and gbm, installed by hand: see the header of linkage_peer.py).
#
#   Rscript crimelinkage_cv.R CRIMES.csv OFFENDERS.csv FOLDS.csv OUT.csv TIMES.csv [SEED]
#
# FOLDS.csv: crimeID,fold (the fold that holds the crime out; -1 for unlabelled crimes, which
# stay in every training set, as in crimelens's grouped_linkage_cv).
# For each fold: the package's own recipe from its vignette (makeSeriesData, makePairs with
# thres = 365 and m = 40, compareCrimes with binary M.O. matches; stepwise logistic, naive
# Bayes with df = 10, nbins = 15, quantile bins, and gbm with shrinkage 0.01, 500 trees,
# depth 3) fitted on the training crimes only; then every held-out crime is compared with
# every other crime and the three log Bayes factors are written to OUT.csv.

suppressPackageStartupMessages({
  library(crimelinkage)
  library(gbm)
})

args <- commandArgs(trailingOnly = TRUE)
if (!(length(args) %in% c(5, 6))) stop("usage: crimelinkage_cv.R CRIMES OFFENDERS FOLDS OUT TIMES [SEED]")
seed <- if (length(args) == 6) as.integer(args[6]) else 0L  # fold f samples with seed + f + 1

crimes <- read.csv(args[1], colClasses = "character")
offenders <- unique(read.csv(args[2], colClasses = "character"))
folds <- read.csv(args[3], colClasses = c("character", "integer"))

# The same time reading as crimelens's read_crimelinkage: "2400" is the next day's 00:00, and an
# interval whose end is before its start ends on the next day.
stamp <- function(d, t) {
  as.POSIXct(d, tz = "UTC") + as.numeric(substr(t, 1, 2)) * 3600 + as.numeric(substr(t, 3, 4)) * 60
}
crimes$DT.FROM <- stamp(crimes$DATE_FROM, crimes$TIME_FROM)
crimes$DT.TO <- stamp(crimes$DATE_TO, crimes$TIME_TO)
late <- crimes$DT.TO < crimes$DT.FROM
crimes$DT.TO[late] <- crimes$DT.TO[late] + 86400
crimes$X <- as.numeric(crimes$X)
crimes$Y <- as.numeric(crimes$Y)
for (v in c("MO1", "MO2", "MO3")) crimes[[v]][crimes[[v]] %in% c("", "NA")] <- NA

varlist <- list(spatial = c("X", "Y"), temporal = c("DT.FROM", "DT.TO"),
                categorical = c("MO1", "MO2", "MO3"))
vars <- c("spatial", "temporal", "tod", "dow", "MO1", "MO2", "MO3")
fmla <- as.formula(paste("Y ~", paste(vars, collapse = " + ")))

fold_of <- folds$fold[match(crimes$crimeID, folds$crimeID)]
out <- list()
times <- list()
for (f in sort(unique(fold_of[fold_of >= 0]))) {
  t0 <- proc.time()[["elapsed"]]
  train_ids <- crimes$crimeID[fold_of != f]
  train <- crimes[crimes$crimeID %in% train_ids, ]
  series <- makeSeriesData(crimedata = train,
                           offenderTable = offenders[offenders$crimeID %in% train_ids, ])
  pairs <- makePairs(series, thres = 365, m = 40, seed = seed + f + 1)
  X <- compareCrimes(pairs, crimedata = crimes, varlist = varlist, binary = TRUE)
  D <- data.frame(X, Y = ifelse(pairs$type == "linked", 1, 0), weight = pairs$weight)
  logistic <- suppressWarnings(step(glm(fmla, data = D, family = binomial, weights = weight),
                                    trace = 0))
  nb <- naiveBayes(fmla, data = D, weights = weight, df = 10, nbins = 15, partition = "quantile")
  set.seed(seed + f + 1)
  boosted <- suppressWarnings(gbm(fmla, distribution = "bernoulli", data = D, weights = weight,
                                  shrinkage = 0.01, n.trees = 500, interaction.depth = 3))
  t1 <- proc.time()[["elapsed"]]
  queries <- crimes$crimeID[fold_of == f]
  q <- rep(queries, each = nrow(crimes))
  c <- rep(crimes$crimeID, times = length(queries))
  keep <- q != c
  E <- compareCrimes(cbind(q[keep], c[keep]), crimedata = crimes, varlist = varlist, binary = TRUE)
  out[[length(out) + 1]] <- data.frame(
    query = q[keep], candidate = c[keep],
    logistic = predict(logistic, newdata = E, type = "link"),
    naive_bayes = predict(nb, newdata = E),
    gbm = predict(boosted, newdata = E, n.trees = 500)
  )
  t2 <- proc.time()[["elapsed"]]
  times[[length(times) + 1]] <- data.frame(fold = f, n_train_pairs = nrow(D),
                                           n_linked = sum(D$Y), fit_s = t1 - t0,
                                           score_s = t2 - t1, n_scored = sum(keep))
  message(sprintf("fold %d: %d training pairs (%d linked), fit %.1f s, %d pairs scored in %.1f s",
                  f, nrow(D), sum(D$Y), t1 - t0, sum(keep), t2 - t1))
}
write.csv(do.call(rbind, out), args[4], row.names = FALSE)
write.csv(do.call(rbind, times), args[5], row.names = FALSE)
