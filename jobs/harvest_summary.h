/* harvest_summary.h: the end of `gsae harvest`: where the time went, and the feature
 * frequencies of a store as CSV. */
#pragma once

#include "../mpi/dist.h"
#include "../mpi/harvest.h"
#include "../mpi/pstore.h"
#include "../src/gsae.h"

/* Where the time of pstore_harvest went on the writer of replica 0 (world rank writer0), as
 * shares of its own wall time, printed by rank 0 with the parts and tokens this run wrote.
 * Collective on d->world; returns st, or an MPI failure. */
enum gsae_status harvest_summary(const struct harvest_encoder *enc, const struct dist *d,
                                 const struct pstore_result *res, int writer0, enum gsae_status st,
                                 struct gsae_error *err);

/* feature,frequency rows of STORE/feature_stats.nc into path. Local. */
enum gsae_status harvest_write_freq(const char *store, const char *path, struct gsae_error *err);
