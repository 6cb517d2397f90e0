/* blacs.h: prototypes for the BLACS and ScaLAPACK routines gsae calls.
 *
 * Debian's libscalapack-openmpi ships no headers. The C BLACS interface (Cblacs_*,
 * Csys2blacs_handle) takes values; the ScaLAPACK routines are Fortran (trailing underscore):
 * every argument by pointer, INTEGER is a 32-bit int, and each CHARACTER argument adds a hidden
 * length (size_t, gfortran >= 8) after the listed arguments, which we pass explicitly.
 *
 * An array descriptor (desc[9]) is the ScaLAPACK DTYPE=1 dense descriptor:
 * dtype, ctxt, m, n, mb, nb, rsrc, csrc, lld. Local pieces are column-major with leading
 * dimension lld.
 */
#pragma once

#include <mpi.h>
#include <stddef.h>

enum { BLACS_DESC_LEN = 9 };

/* BLACS system context for an MPI communicator; release with Cfree_blacs_system_handle. */
int Csys2blacs_handle(MPI_Comm comm);
void Cfree_blacs_system_handle(int sys_ctxt);
/* Map a system context onto an nprow x npcol grid; order "Row": process p at (p/npcol, p%npcol). */
void Cblacs_gridinit(int *ctxt, const char *order, int nprow, int npcol);
void Cblacs_gridinfo(int ctxt, int *nprow, int *npcol, int *myrow, int *mycol);
void Cblacs_gridexit(int ctxt);

/* Number of rows (or columns) of an n-long dimension, block nb, owned by process iproc of
 * nprocs, when the first block sits on process isrcproc. */
int numroc_(const int *n, const int *nb, const int *iproc, const int *isrcproc, const int *nprocs);

void descinit_(int *desc, const int *m, const int *n, const int *mb, const int *nb,
               const int *irsrc, const int *icsrc, const int *ictxt, const int *lld, int *info);

/* Selected eigenpairs of a distributed symmetric matrix (MRRR). Z is N x N distributed; the
 * M computed eigenvectors fill its first M columns, eigenvalues W ascending. */
void pdsyevr_(const char *jobz, const char *range, const char *uplo, const int *n, double *a,
              const int *ia, const int *ja, const int *desca, const double *vl, const double *vu,
              const int *il, const int *iu, int *m, int *nz, double *w, double *z, const int *iz,
              const int *jz, const int *descz, double *work, const int *lwork, int *iwork,
              const int *liwork, int *info, size_t jobz_len, size_t range_len, size_t uplo_len);
