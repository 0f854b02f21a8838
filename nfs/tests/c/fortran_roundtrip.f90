! Writes a real(8) array through nfsx from Fortran (iso_c_binding), reads it back and compares.
! Usage: fortran_roundtrip NFS_URL
! Ends with "fortran: N passed, M failed".
module nfsx
  use iso_c_binding
  implicit none
  ! ssize_t is c_intptr_t (Fortran has no c_ssize_t; both are 64-bit on Linux).
  ! Linux open(2) flags (fcntl.h): Fortran cannot include the C header.
  integer(c_int), parameter :: O_RDONLY = 0, O_RDWR = 2, O_CREAT = 64, O_TRUNC = 512
  interface
    integer(c_int) function nfsx_mount(url, client) bind(C, name="nfsx_mount")
      import :: c_int, c_char, c_ptr
      character(kind=c_char), dimension(*), intent(in) :: url
      type(c_ptr), intent(out) :: client
    end function
    integer(c_int) function nfsx_umount(client) bind(C, name="nfsx_umount")
      import :: c_int, c_ptr
      type(c_ptr), value :: client
    end function
    integer(c_int) function nfsx_open(client, path, flags, mode, file) bind(C, name="nfsx_open")
      import :: c_int, c_char, c_ptr
      type(c_ptr), value :: client
      character(kind=c_char), dimension(*), intent(in) :: path
      integer(c_int), value :: flags, mode
      type(c_ptr), intent(out) :: file
    end function
    integer(c_int) function nfsx_close(file) bind(C, name="nfsx_close")
      import :: c_int, c_ptr
      type(c_ptr), value :: file
    end function
    integer(c_intptr_t) function nfsx_pwrite(file, buf, count, offset) bind(C, name="nfsx_pwrite")
      import :: c_intptr_t, c_size_t, c_int64_t, c_ptr
      type(c_ptr), value :: file, buf
      integer(c_size_t), value :: count
      integer(c_int64_t), value :: offset
    end function
    integer(c_intptr_t) function nfsx_pread(file, buf, count, offset) bind(C, name="nfsx_pread")
      import :: c_intptr_t, c_size_t, c_int64_t, c_ptr
      type(c_ptr), value :: file, buf
      integer(c_size_t), value :: count
      integer(c_int64_t), value :: offset
    end function
    integer(c_int) function nfsx_unlink(client, path) bind(C, name="nfsx_unlink")
      import :: c_int, c_char, c_ptr
      type(c_ptr), value :: client
      character(kind=c_char), dimension(*), intent(in) :: path
    end function
  end interface
end module nfsx

program fortran_roundtrip
  use iso_c_binding
  use nfsx
  implicit none
  integer, parameter :: n = 300000          ! 2.4 MB: several rsize pieces
  real(c_double), allocatable, target :: a(:), b(:)
  type(c_ptr) :: client, file
  character(len=1024) :: url
  character(len=64) :: path
  integer :: i, passed = 0, failed = 0
  integer(c_size_t) :: nbytes

  call get_command_argument(1, url)
  if (len_trim(url) == 0) call get_environment_variable("NFSX_TEST_VFS_URL", url)
  write (path, '(a,i0,a)') "fortran-", getpid(), ".dat"
  allocate (a(n), b(n))
  do i = 1, n
    a(i) = sin(real(i, c_double)) * i
  end do
  b = 0
  nbytes = int(n, c_size_t) * 8

  call check(nfsx_mount(trim(url)//c_null_char, client) == 0, "mount")
  call check(nfsx_open(client, trim(path)//c_null_char, ior(O_RDWR, ior(O_CREAT, O_TRUNC)), &
                       int(o'644', c_int), file) == 0, "open for writing")
  call check(nfsx_pwrite(file, c_loc(a), nbytes, 0_c_int64_t) == nbytes, "pwrite")
  call check(nfsx_close(file) == 0, "close after write")
  call check(nfsx_open(client, trim(path)//c_null_char, O_RDONLY, 0_c_int, file) == 0, "open for reading")
  call check(nfsx_pread(file, c_loc(b), nbytes + 100, 0_c_int64_t) == nbytes, "pread (short at end of file)")
  call check(all(a == b), "array read back equals array written")
  call check(nfsx_close(file) == 0, "close after read")
  call check(nfsx_close(file) < 0, "double close is refused")
  call check(nfsx_unlink(client, trim(path)//c_null_char) == 0, "unlink")
  call check(nfsx_umount(client) == 0, "umount")
  deallocate (a, b)
  print '(a,i0,a,i0,a)', "fortran: ", passed, " passed, ", failed, " failed"
  if (failed /= 0) stop 1

contains
  subroutine check(ok, what)
    logical, intent(in) :: ok
    character(len=*), intent(in) :: what
    if (ok) then
      passed = passed + 1
    else
      failed = failed + 1
      print '(a,a)', "FAIL ", what
    end if
  end subroutine
end program fortran_roundtrip
